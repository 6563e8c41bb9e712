-- Deliberately empty: the bar tables belong to VnPy and may hold data the gateway did not write.
-- Drop them by hand if you really want to (DROP TABLE dbbardata, dbbaroverview).
SELECT 1;
