import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A fresh system image at `root` with the account files a Debian root has, for install.sh --root. */
export async function newSystemImage(root: string): Promise<string> {
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(
    path.join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nbin:x:200:200::/:/bin/false\n',
  );
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\nbin:x:200:\nusers:x:201:\n');
  await writeFile(path.join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  return root;
}
