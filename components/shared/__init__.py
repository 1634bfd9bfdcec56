"""What every part uses: the door to the nodes, drift probes, generated passwords, node entries."""
