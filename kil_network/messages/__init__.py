"""Staff messages to members (campaign updates and service messages) and the members' updates pages."""
