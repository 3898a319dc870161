-- wrk script: replays prebuilt requests from a file, one line each:
--   METHOD <tab> PATH <tab> BODY [<tab> Name: value]...
-- Each thread takes its own share of the lines and sends each at most once (unique
-- webhook ids, one decision per link), or cycles through them with "cycle" (read-only
-- pages). Args after `--`: file, number of threads, [cycle].
-- At the end, one machine-readable line: "BENCH key=value ...".

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local fields, start = {}, 1
  while true do
    local i = string.find(line, "\t", start, true)
    if not i then
      table.insert(fields, string.sub(line, start))
      return fields
    end
    table.insert(fields, string.sub(line, start, i - 1))
    start = i + 1
  end
end

local prepared = {}
local index = 0
local cycle = false
local sent = 0
exhausted = 0

function init(args)
  local nthreads = tonumber(args[2])
  cycle = args[3] == "cycle"
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == id then
      local f = split(line)
      local headers = {}
      for k = 4, #f do
        local name, value = string.match(f[k], "^([^:]+):%s*(.*)$")
        headers[name] = value
      end
      local body = nil
      if f[3] ~= "" then body = f[3] end
      table.insert(prepared, wrk.format(f[1], f[2], headers, body))
    end
    n = n + 1
  end
end

function request()
  index = index + 1
  if index > #prepared then
    index = 1
  end
  if not cycle then
    sent = sent + 1
    if sent > #prepared then
      -- Out of unique requests: the figures would mix in repeats; the runner warns.
      exhausted = exhausted + 1
    end
  end
  return prepared[index]
end

function done(summary, latency, requests)
  local repeats = 0
  for _, t in ipairs(threads) do
    repeats = repeats + (t:get("exhausted") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d status_errors=%d exhausted=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, repeats))
end
