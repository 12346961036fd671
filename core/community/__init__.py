"""The community forum: threads and replies, moderation through the ``moderation_check`` hook."""
