"""The Textual chat (`qa chat`)."""
