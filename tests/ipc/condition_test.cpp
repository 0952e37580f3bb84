// placeholder: filled in by the condition work
