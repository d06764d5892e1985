"""People: console users, their memberships in accounts, sign-in sessions and invitations."""
