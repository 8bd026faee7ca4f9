"""The Discord adapter: ``adapters.discord.app.DiscordAdapter`` (discord.py).

``commands.py`` generates the slash commands from the core registry; ``render.py`` turns a core
``Reply`` into Discord messages. Neither imports discord, so they can be used and tested alone.
"""
