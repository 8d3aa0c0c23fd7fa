"""morrow's application floor: messages, the loop, providers, approvals, config, CLI."""
