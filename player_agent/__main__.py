"""`python -m player_agent`: the agent (what the systemd unit runs)."""

from player_agent.daemon import main

main()
