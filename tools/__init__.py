"""Calendar and email tools, their backends and the tool framework."""
