"""Model calls: the litellm gateway, structured answers, the offline provider, record and replay."""
