// Schema migrations, applied in order; user_version counts those applied. Never edit a
// migration that has shipped: append a new one.
export const migrations: string[] = [
  `
  -- An image is named by its config digest (hex, like docker's image ID).
  CREATE TABLE images (
    id                  TEXT PRIMARY KEY,
    manifest_digest     TEXT NOT NULL,      -- 'sha256:…' of the manifest blob in the content store
    manifest_media_type TEXT NOT NULL,
    config              TEXT NOT NULL,      -- the image config JSON, as stored in its blob
    layers              TEXT NOT NULL,      -- JSON [{digest, mediaType, size, diffId, chainId}]
    size                INTEGER NOT NULL,   -- bytes of the unpacked layers
    created_at          INTEGER NOT NULL    -- ms since the epoch, when added to this store
  );
  CREATE TABLE image_names (
    name     TEXT PRIMARY KEY,              -- fully qualified, e.g. 'localhost/busybox:latest'
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
  );
  CREATE INDEX image_names_by_image ON image_names(image_id);

  -- One unpacked layer, keyed by its chain ID; the directory exists only once the row does
  -- and state = 'committed' (an 'extracting' row left by a crash is swept).
  CREATE TABLE snapshots (
    chain_id   TEXT PRIMARY KEY,
    parent     TEXT,
    diff_id    TEXT NOT NULL,
    size       INTEGER NOT NULL DEFAULT 0,
    state      TEXT NOT NULL,               -- 'extracting' | 'committed'
    created_at INTEGER NOT NULL
  );

  -- CRI pod sandboxes: containers that share namespaces and a cgroup parent.
  CREATE TABLE pods (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    state      TEXT NOT NULL,
    config     TEXT NOT NULL,               -- JSON
    created_at INTEGER NOT NULL
  );

  CREATE TABLE containers (
    id          TEXT PRIMARY KEY,           -- 64 hex
    name        TEXT NOT NULL UNIQUE,
    pod_id      TEXT REFERENCES pods(id),
    image_id    TEXT,
    image_name  TEXT,
    config      TEXT NOT NULL,              -- JSON: the create request (container/types.ts ContainerConfig)
    state       TEXT NOT NULL,              -- 'creating' | 'created' | 'running' | 'stopped' | 'removing'
    pid         INTEGER,
    conmon_pid  INTEGER,
    exit_code   INTEGER,
    oom_killed  INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    network     TEXT,                       -- JSON: what networking gave it (netns, attachments, ports)
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX containers_by_pod ON containers(pod_id);

  -- Exit codes of containers removed right after they exited (--rm), kept for a few
  -- minutes so a waiter that lost the race with the removal still gets the code.
  CREATE TABLE exit_codes (
    id          TEXT PRIMARY KEY,
    exit_code   INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
  );
  CREATE INDEX containers_by_image ON containers(image_id);
  `,
  `
  -- A lease: an operation in progress (a pull, load or import) that writes or relies on
  -- blobs and snapshots no image references yet. Garbage collection keeps them, and
  -- whatever was made after created_at, while pid lives; a dead pid's lease is dropped.
  CREATE TABLE leases (
    id         TEXT PRIMARY KEY,
    pid        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,            -- ms since the epoch
    blobs      TEXT NOT NULL DEFAULT '[]',  -- JSON ['sha256:…']
    chain_ids  TEXT NOT NULL DEFAULT '[]'   -- JSON ['sha256:…']
  );
  `,
  `
  -- After an exit, the run's resources (runtime state, mounts, network) are released; a
  -- row with released = 0 still holds them, and whoever looks next finishes the release
  -- unless cleanup_owner (the process doing it, "<pid>-<start time>") still runs. A
  -- 'removing' row's cleanup_owner is its remover, likewise.
  ALTER TABLE containers ADD COLUMN released INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE containers ADD COLUMN cleanup_owner TEXT;
  `,
  `
  -- The namespace a container or pod belongs to: the CLI's are 'default', the CRI's
  -- 'k8s.io'; listings and name lookups stay in one (ids are unique across all).
  ALTER TABLE containers ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE pods ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
  -- Pod sandboxes: what networking gave them, the infra process holding a shared PID
  -- namespace (JSON {pid, conmonPid, token}), and the process creating or removing one
  -- ("<pid>-<start time>"): a pod whose owner died half-way is finished by the next look.
  ALTER TABLE pods ADD COLUMN network TEXT;
  ALTER TABLE pods ADD COLUMN infra TEXT;
  ALTER TABLE pods ADD COLUMN owner TEXT;
  `,
  `
  -- processTokens beside the pids that own or monitor something, so that a reused pid is
  -- not taken for them; NULL in older rows, where the pid alone decides. A 'creating' row's
  -- creator is its cleanup_owner.
  ALTER TABLE leases ADD COLUMN owner TEXT;
  ALTER TABLE containers ADD COLUMN conmon_token TEXT;
  `,
  `
  -- What happened to containers and pods, in order (src/events): written in the same
  -- transaction as the change it reports; seq is never reused.
  CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,           -- ms since the epoch
    namespace  TEXT NOT NULL,
    type       TEXT NOT NULL,              -- 'container' | 'pod'
    action     TEXT NOT NULL,
    id         TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'  -- JSON {name, image, exitCode, …}
  );
  CREATE INDEX events_by_id ON events(id);
  `,
  `
  -- Restart policies: how often a container was restarted after an exit, and whether a user
  -- stopped it (then its policy does not bring it back until it is started again).
  ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE containers ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Named and anonymous volumes (src/volume): a directory <root>/volumes/<name>/_data. The
  -- row comes first ('creating', owned by its creator "<pid>-<start time>"), the directory
  -- after; 'removing' rows lose the directory first, the row last. A row whose owner died
  -- is finished by the next look.
  CREATE TABLE volumes (
    name          TEXT PRIMARY KEY,
    state         TEXT NOT NULL,              -- 'creating' | 'ready' | 'removing'
    owner         TEXT,
    labels        TEXT NOT NULL DEFAULT '{}', -- JSON
    options       TEXT NOT NULL DEFAULT '{}', -- JSON
    anonymous     INTEGER NOT NULL DEFAULT 0,
    needs_copy_up INTEGER NOT NULL DEFAULT 1, -- the first container copies its image's content in
    created_at    INTEGER NOT NULL
  );
  `,
  `
  -- Digests a registry served for an image besides its manifest's: the index (manifest list)
  -- a tag or digest named. RepoDigests, \`images --digests\` and lookups by repository@digest
  -- use them, as podman's do.
  CREATE TABLE image_digests (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,                -- pulled by digest: where from ('' by tag: the name says)
    digest     TEXT NOT NULL,
    PRIMARY KEY (image_id, repository, digest)
  );
  CREATE INDEX image_digests_by_digest ON image_digests(digest);
  `,
  `
  -- A running container whose processes are frozen (pause): the runtime's state, recorded
  -- beside it so listings need not ask the runtime; an exit or a new incarnation clears it.
  ALTER TABLE containers ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- When a start of the created incarnation was asked of the runtime (ms): a process that
  -- exits before its starter records it running still gets its start recorded, before its
  -- exit. Recording either clears it; so does a new incarnation or a failed start.
  ALTER TABLE containers ADD COLUMN start_requested_at INTEGER;
  `,
];
