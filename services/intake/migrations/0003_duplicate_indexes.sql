-- Duplicate lookups by place: an open case near a point, or at the same address in a community.
-- Without them every lookup reads all open cases of its category in the window (quadratic imports).
CREATE INDEX cases_open_point ON cases (category, lat, lon)
    WHERE status NOT IN ('resolved', 'closed') AND lat IS NOT NULL;
CREATE INDEX cases_open_address ON cases (category, community, address_key)
    WHERE status NOT IN ('resolved', 'closed') AND address_key IS NOT NULL;
