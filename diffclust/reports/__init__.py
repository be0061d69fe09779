"""Tables and figures built only from run directories' files."""
