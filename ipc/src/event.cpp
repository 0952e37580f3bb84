// placeholder: filled in by the event work
