// The volume model: what the store knows about each volume.
export type VolumeState = 'creating' | 'ready' | 'removing';

export interface Volume {
  name: string;
  state: VolumeState;
  /** The process ("<pid>-<start time>") creating or removing it; null when ready. */
  owner: string | null;
  labels: Record<string, string>;
  /** The --opt KEY=VALUE pairs it was created with. */
  options: Record<string, string>;
  /** Made for one container (`-v /path`, an image's VOLUME): removed with it by `rm -v` and `--rm`. */
  anonymous: boolean;
  /** Still empty as made: the first container to mount it copies its image's content in. */
  needsCopyUp: boolean;
  createdAt: number;
}

/** Which containers use which volumes: the containers' own records answer it. */
export type VolumeUsers = (name: string) => string[];
