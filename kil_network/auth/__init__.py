"""Auth: joining, signing in and out, email confirmation, password reset."""
