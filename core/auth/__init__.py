"""Login flow, sessions, API tokens and password rules (mechanisms shared by every auth provider)."""
