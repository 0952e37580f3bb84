// placeholder: filled in by the machine work
