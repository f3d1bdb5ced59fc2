"""The dashboard's read API: cases filtered and paged on the server, overview, demand, supply."""
