"""The knowledge base: categories, articles, feedback, full-text search, RSS feeds and RSS import.

Public entry points: :func:`core.kb.web.register` (blueprints), :mod:`core.kb.service` (articles and
feedback), :mod:`core.kb.sanitize` (the one HTML sanitizer KB and community share).
"""
