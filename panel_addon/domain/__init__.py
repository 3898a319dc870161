"""The domain: the policy's state machines as data, and the services that follow them."""
