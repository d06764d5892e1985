"""The demo account a newcomer gets from the README's run command (`beacon serve --demo`)."""
