"""Tests of the captcha plugins and the core captcha helper."""
