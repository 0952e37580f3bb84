// placeholder: filled in by the sync_experiment work
