-- Every running `hookpost serve` is a node with a heartbeat: the leases of a node whose
-- heartbeat stopped are taken back by the live ones within seconds, not at lease end.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);
