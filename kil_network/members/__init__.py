"""Members: profiles, directory, organisations, local authorities and regions."""
