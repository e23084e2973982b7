-- Questions asked of the library and their answers, kept so that any
-- replica continues a conversation after a restart.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_owner ON conversations (owner, updated_at);

CREATE TABLE turns (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    -- 1 when the library had relevant passages, 0 when not.
    found BIGINT NOT NULL,
    -- The citations as JSON (wire::ask::Citation).
    citations TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, number)
);
