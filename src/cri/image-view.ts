// A stored image as the CRI Image message: ID = sha256:<config digest> (what PullImage
// answers as image_ref), names as repo tags, repository@digest as repo digests (the digest
// the registry served: an index's when pulled through one, as containerd reports it), and
// the user of the image config split into uid or username.
import { parseReference, repositoryOf, type Image as StoredImage } from '../image/index.js';
import type { Image } from './types.js';

export function imageId(image: StoredImage): string {
  return `sha256:${image.id}`;
}

export function toCriImage(image: StoredImage, pinned = false): Image {
  const repos = new Set<string>();
  const tags: string[] = [];
  for (const name of image.names) {
    const ref = parseReference(name);
    repos.add(repositoryOf(ref));
    if (ref.tag) tags.push(name);
  }
  // Pulled by digest, the image has no name but its repository.
  for (const d of image.repoDigests) repos.add(d.slice(0, d.indexOf('@')));
  const { uid, username } = imageUser(image.config.config?.User);
  return {
    id: imageId(image),
    repo_tags: tags,
    repo_digests: [...repos].map((r) => `${r}@${image.servedDigest}`),
    size: image.size,
    uid: uid === undefined ? null : { value: uid },
    username,
    spec: { image: imageId(image), annotations: {} },
    pinned,
  };
}

/** USER is "user[:group]": a number is a uid, anything else a name (the group is not reported). */
function imageUser(user: string | undefined): { uid?: number; username: string } {
  const name = (user ?? '').split(':')[0];
  if (name === '') return { username: '' };
  if (/^\d+$/.test(name)) return { uid: Number(name), username: '' };
  return { username: name };
}
