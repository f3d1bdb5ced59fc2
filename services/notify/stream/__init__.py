"""The live stream: Server-Sent Events of the case events a caller may see, fed by every process's hub."""
