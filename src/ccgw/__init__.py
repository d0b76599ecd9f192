"""ccgw: a local gateway that serves OpenAI and Anthropic APIs over a Command Code subscription."""

__version__ = "0.1.0"
