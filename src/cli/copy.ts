// Files in and out of containers: cp, export, commit.
import { outputFlag, toFileOrStdout } from './output-file.js';
import type { Command } from './command.js';
import { invalidArgument } from '../errors/index.js';
import { stdout, writeOut } from './stdout.js';

interface Location {
  container?: string;
  path: string;
}

/** docker's rule: a path that starts with / or . is the host's, NAME:PATH a container's. */
function location(arg: string): Location {
  if (arg === '-' || arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i > 0) return { container: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
  return { path: arg };
}


const cpCommand: Command = {
  name: 'cp',
  usage: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  summary: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { name: 'archive', short: 'a', type: 'bool', default: true, desc: 'Keep the uid/gid of what is copied (false: files get the destination\'s user)' },
    { name: 'overwrite', type: 'bool', desc: 'Allow directories to be overwritten with non-directories and vice versa' },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, f, [srcArg, dstArg]) {
    const src = location(srcArg);
    const dst = location(dstArg);
    if (src.container && dst.container) throw invalidArgument('copying between containers is not supported');
    if (!src.container && !dst.container) throw invalidArgument(`invalid arguments ${srcArg}, ${dstArg}: you must use just one container`);
    if (src.path === '-' && dst.path === '-') throw invalidArgument('"-" can only be used once');
    const { RootView, copyFromStream, copyPath, copyToStream } = await import('../snapshot/index.js');
    const opts = { archive: f.archive as boolean, overwrite: !!f.overwrite };
    const mgr = await ctx.containers();
    const files = await mgr.openFiles((src.container ?? dst.container)!);
    const host = (path: string) => ({
      view: new RootView('/'),
      path: path.startsWith('/') ? path : `${process.cwd()}/${path}`,
      where: 'the host',
      owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    });
    const inContainer = (path: string, owner?: { uid: number; gid: number }) => ({ view: files.view, path: path.startsWith('/') ? path : `/${path}`, where: `container ${src.container ?? dst.container}`, owner });
    // Without --archive, what lands in the container is its user's (root when it has none).
    const intoContainer = async (path: string) => inContainer(path, opts.archive ? undefined : await files.userOwner());
    try {
      if (src.container) {
        if (dst.path === '-') {
          if (stdout().isTTY) throw invalidArgument('refusing to write a tar archive to a terminal: redirect stdout');
          await copyToStream(inContainer(src.path), stdout());
        } else await copyPath(inContainer(src.path), host(dst.path), opts);
      } else if (src.path === '-') {
        await copyFromStream(process.stdin, await intoContainer(dst.path), opts);
      } else await copyPath(host(src.path), await intoContainer(dst.path), opts);
    } finally {
      files.close();
    }
  },
};

const exportCommand: Command = {
  name: 'export',
  usage: 'export [OPTIONS] CONTAINER',
  summary: "Export a container's filesystem contents as a tar archive",
  flags: [outputFlag],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [ref]) {
    const mgr = await ctx.containers();
    await mgr.get(ref); // no such container comes before any file is made
    await toFileOrStdout(f.output as string | undefined, 'refusing to export to terminal. Use -o flag or redirect', (out) => mgr.export(ref, out));
  },
};

const commitCommand: Command = {
  name: 'commit',
  usage: 'commit [OPTIONS] CONTAINER [IMAGE]',
  summary: "Create a new image from a container's changes",
  flags: [
    { name: 'change', short: 'c', type: 'strings', value: 'INSTRUCTION', desc: 'Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL; ONBUILD is ignored)' },
    { name: 'message', short: 'm', type: 'string', value: 'MESSAGE', desc: 'Commit message for the new image' },
    { name: 'author', short: 'a', type: 'string', value: 'AUTHOR', desc: 'The author of the new image' },
    { name: 'pause', short: 'p', type: 'bool', default: false, desc: 'Pause the container while its image is made' },
    { name: 'format', short: 'f', type: 'string', value: 'FORMAT', default: 'oci', desc: 'Image format: oci (default) or docker' },
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Print only the image ID' },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, f, [ref, name]) {
    const format = f.format as string;
    if (format !== 'oci' && format !== 'docker') throw invalidArgument(`unrecognized image type "${format}": use oci or docker`);
    const img = await (await ctx.containers()).commit(ref, {
      name,
      changes: (f.change as string[] | undefined) ?? [],
      message: f.message as string | undefined,
      author: f.author as string | undefined,
      format,
      pause: f.pause === true,
    });
    writeOut(`${img.id}\n`);
  },
};

export const copyCommands: Command[] = [cpCommand, exportCommand, commitCommand];
