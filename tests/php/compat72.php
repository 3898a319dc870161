<?php

/**
 * Finds the syntax (and the functions) a PHP file uses that PHP 7.2 does not have, for
 * the files WHMCS parses whatever its PHP: the module's main file, hooks.php and the
 * language files. PHP 7.2 itself is not installed here; this reads the tokens PHP's own
 * tokenizer gives and flags each construct added in 7.3 to 8.3 that the module could
 * write. tests/test_php_module.py checks that it flags every one of them.
 *
 * Usage: php compat72.php FILE...; prints one JSON object {file: [findings]}.
 */

declare(strict_types=1);

const NEWER_TOKENS = [
    'T_FN' => 'arrow function (7.4)',
    'T_COALESCE_EQUAL' => '??= (7.4)',
    'T_MATCH' => 'match (8.0)',
    'T_NULLSAFE_OBJECT_OPERATOR' => '?-> (8.0)',
    'T_ATTRIBUTE' => 'attribute #[...] (8.0)',
    'T_READONLY' => 'readonly (8.1)',
    'T_ENUM' => 'enum (8.1)',
];

// Functions added after 7.2 that a module is likely to reach for.
const NEWER_FUNCTIONS = [
    'str_contains' => '8.0', 'str_starts_with' => '8.0', 'str_ends_with' => '8.0',
    'get_debug_type' => '8.0', 'fdiv' => '8.0', 'preg_last_error_msg' => '8.0',
    'array_is_list' => '8.1', 'array_key_first' => '7.3', 'array_key_last' => '7.3',
    'is_countable' => '7.3', 'hrtime' => '7.3', 'mb_str_split' => '7.4',
    'json_validate' => '8.3',
];

const NEWER_TYPES = ['mixed' => '8.0', 'never' => '8.1', 'static' => '8.0', 'null' => '8.2',
    'false' => '8.0', 'true' => '8.2'];

/** @return list<string> */
function findings(string $code): array
{
    $found = [];
    $all = token_get_all($code);
    // The tokens that mean something, with their line.
    $tokens = [];
    foreach ($all as $token) {
        if (is_array($token) && in_array($token[0], [T_WHITESPACE, T_COMMENT, T_DOC_COMMENT], true)) {
            continue;
        }
        $tokens[] = is_array($token)
            ? ['id' => $token[0], 'text' => $token[1], 'line' => $token[2]]
            : ['id' => null, 'text' => $token, 'line' => null];
    }
    $line = 1;
    foreach ($tokens as $i => &$t) {
        $line = $t['line'] ?? $line;
        $t['line'] = $line;
    }
    unset($t);
    $name = static fn (array $t): string => $t['id'] !== null ? token_name($t['id']) : $t['text'];
    $add = static function (array $t, string $what) use (&$found): void {
        $found[] = 'line ' . $t['line'] . ': ' . $what;
    };
    $stack = []; // open brackets: ['char' => '(', 'kind' => 'call'|'params'|'array'|'other']
    $count = count($tokens);
    for ($i = 0; $i < $count; $i++) {
        $t = $tokens[$i];
        $prev = $tokens[$i - 1] ?? null;
        $next = $tokens[$i + 1] ?? null;
        $tokenName = $name($t);
        if (isset(NEWER_TOKENS[$tokenName])) {
            $add($t, NEWER_TOKENS[$tokenName]);
        }
        if (in_array($t['id'], [T_LNUMBER, T_DNUMBER], true)) {
            if (str_contains($t['text'], '_')) {
                $add($t, 'numeric literal separator (7.4)');
            }
            if (preg_match('/^0[oO]/', $t['text'])) {
                $add($t, '0o octal prefix (8.1)');
            }
        }
        if ($t['id'] === T_END_HEREDOC && $t['text'] !== ltrim($t['text'])) {
            $add($t, 'indented heredoc end (7.3)');
        }
        if ($t['id'] === T_STRING && $next !== null && $next['text'] === '('
            && isset(NEWER_FUNCTIONS[strtolower($t['text'])])
            && !in_array($prev['id'] ?? null, [T_OBJECT_OPERATOR, T_DOUBLE_COLON, T_FUNCTION, T_NEW], true)) {
            $add($t, $t['text'] . '() (' . NEWER_FUNCTIONS[strtolower($t['text'])] . ')');
        }
        // A property with a type (7.4): a visibility, maybe static, then a type, then $name.
        if (in_array($t['id'], [T_PUBLIC, T_PROTECTED, T_PRIVATE, T_VAR], true)) {
            $j = $i + 1;
            while (isset($tokens[$j]) && in_array($tokens[$j]['id'], [T_STATIC], true)) {
                $j++;
            }
            $typed = false;
            while (isset($tokens[$j]) && $tokens[$j]['id'] !== T_VARIABLE && $tokens[$j]['id'] !== T_FUNCTION
                && $tokens[$j]['id'] !== T_CONST && !in_array($tokens[$j]['text'], [';', '(', '{'], true)) {
                $typed = true;
                $j++;
            }
            if ($typed && isset($tokens[$j]) && $tokens[$j]['id'] === T_VARIABLE) {
                $inParams = $stack && end($stack)['kind'] === 'params';
                $add($t, $inParams ? 'constructor promotion (8.0)' : 'typed property (7.4)');
            }
        }
        if ($t['id'] === T_CATCH) {
            $j = $i + 2;
            while (isset($tokens[$j]) && $tokens[$j]['text'] !== ')' && $tokens[$j]['id'] !== T_VARIABLE) {
                $j++;
            }
            if (isset($tokens[$j]) && $tokens[$j]['text'] === ')') {
                $add($t, 'catch without a variable (8.0)');
            }
        }
        if ($t['id'] === T_THROW && $prev !== null
            && !in_array($prev['text'], [';', '{', '}', ':', ')'], true)
            && !in_array($prev['id'], [T_OPEN_TAG, T_ELSE], true)) {
            $add($t, 'throw as an expression (8.0)');
        }
        if ($t['id'] === T_NEW && $stack && end($stack)['kind'] === 'params') {
            $add($t, 'new in an initializer (8.1)');
        }
        if ($t['id'] === T_ELLIPSIS && $prev !== null && $prev['text'] === '(' && $next !== null && $next['text'] === ')') {
            $add($t, 'first-class callable syntax (8.1)');
        }
        if ($t['id'] === T_ELLIPSIS && $stack && end($stack)['kind'] === 'array') {
            $add($t, 'spread in an array (7.4)');
        }
        // Named argument (8.0): "(" or "," then a name then ":" inside a call.
        if ($t['id'] === T_STRING && $next !== null && $next['text'] === ':' && $prev !== null
            && in_array($prev['text'], ['(', ','], true) && $stack && end($stack)['kind'] === 'call') {
            $add($t, 'named argument (8.0)');
        }
        // Types in a signature: a union (8.0), an intersection (8.1), newer type names.
        if ($stack && end($stack)['kind'] === 'params' && $t['text'] === '|') {
            $add($t, 'union type (8.0)');
        }
        if ($t['text'] === ':' && $prev !== null && $prev['text'] === ')'
            && isset($tokens[$i - 1]['closes']) && $tokens[$i - 1]['closes'] === 'params') {
            $j = $i + 1;
            if (isset($tokens[$j]) && $tokens[$j]['text'] === '?') {
                $j++;
            }
            $type = strtolower($tokens[$j]['text'] ?? '');
            if (isset(NEWER_TYPES[$type])) {
                $add($tokens[$j], 'return type ' . $type . ' (' . NEWER_TYPES[$type] . ')');
            }
            if (($tokens[$j + 1]['text'] ?? '') === '|') {
                $add($tokens[$j], 'union return type (8.0)');
            }
        }
        if ($stack && end($stack)['kind'] === 'params' && in_array($t['id'], [T_STRING, T_STATIC], true)
            && isset(NEWER_TYPES[strtolower($t['text'])]) && ($next['id'] ?? null) === T_VARIABLE) {
            $add($t, 'parameter type ' . strtolower($t['text']) . ' (' . NEWER_TYPES[strtolower($t['text'])] . ')');
        }
        // Brackets, to know where we are.
        if (in_array($t['text'], ['(', '['], true) || $t['id'] === T_CURLY_OPEN || $t['id'] === T_DOLLAR_OPEN_CURLY_BRACES) {
            $kind = 'other';
            if ($t['text'] === '[') {
                $kind = 'array';
            } elseif ($t['text'] === '(') {
                $before = $prev['id'] ?? null;
                $beforeBefore = $tokens[$i - 2]['id'] ?? null;
                if ($before === T_FUNCTION || $before === T_FN
                    || ($before === T_STRING && $beforeBefore === T_FUNCTION)
                    || ($before === T_USE && ($tokens[$i - 2]['text'] ?? '') === ')')) {
                    $kind = 'params';
                } elseif ($before === T_ARRAY || $before === T_LIST) {
                    $kind = 'array-call';
                } elseif (in_array($before, [T_STRING, T_VARIABLE, T_NAME_QUALIFIED, T_NAME_FULLY_QUALIFIED, T_NEW, T_STATIC], true)
                    || in_array($prev['text'] ?? '', [')', ']'], true)) {
                    $kind = 'call';
                }
            }
            $stack[] = ['char' => $t['text'], 'kind' => $kind];
        } elseif (in_array($t['text'], [')', ']', '}'], true)) {
            $open = array_pop($stack);
            if ($open !== null && $t['text'] === ')') {
                $tokens[$i]['closes'] = $open['kind'];
                // A trailing comma in a call (7.3) or in a parameter list (8.0).
                if ($prev !== null && $prev['text'] === ',' && in_array($open['kind'], ['call', 'params'], true)) {
                    $add($t, $open['kind'] === 'call' ? 'trailing comma in a call (7.3)' : 'trailing comma in parameters (8.0)');
                }
            }
        } elseif ($t['text'] === '{') {
            $stack[] = ['char' => '{', 'kind' => 'block'];
        }
    }
    return $found;
}

$report = [];
foreach (array_slice($argv, 1) as $file) {
    $report[$file] = findings((string) file_get_contents($file));
}
echo json_encode($report, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
