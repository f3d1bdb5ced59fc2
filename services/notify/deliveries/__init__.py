"""The delivery log and its replay."""
