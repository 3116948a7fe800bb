// Reading a model file from a path without trusting it: only a regular file is read (checked
// with fstat on the descriptor that is read, so nothing can swap the file in between), it is
// opened non-blocking (a FIFO's open would otherwise wait for a writer forever), and never more
// bytes are read than the file's declared sizes allow.
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

import { ErrorCode } from '../errors';
import { MAX_FILE_BYTES } from '../limits';
import {
  type SafetensorsHeader,
  checkDataLength,
  fileError,
  parseHeader,
  readHeaderLength,
} from './safetensors';

// O_NONBLOCK where the platform has it (POSIX): opening a FIFO then returns at once.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** The kind of a non-regular file, for messages. */
function kindOf(stat: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens `file` for reading and checks, on the open descriptor, that it is a regular file of at
 * most MAX_FILE_BYTES. The caller closes the handle.
 */
async function openRegular(
  file: string,
  where: string,
): Promise<{ handle: FileHandle; size: number }> {
  const handle = await open(file, OPEN_FLAGS);
  try {
    const stat = await handle.stat();
    if (!stat.isFile())
      throw fileError(
        ErrorCode.FILE_NOT_REGULAR,
        where,
        `${JSON.stringify(file)} is ${kindOf(stat)}, not a regular file; cellstate reads models from regular files only (read a stream into a Buffer and pass the bytes)`,
      );
    if (stat.size > MAX_FILE_BYTES)
      throw fileError(
        ErrorCode.FILE_TOO_LARGE,
        where,
        `${JSON.stringify(file)} has ${stat.size} bytes, more than the limit of ${MAX_FILE_BYTES} (MAX_FILE_BYTES)`,
      );
    return { handle, size: stat.size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads exactly `out.length` bytes at `position`; a file that ends first is FILE_TRUNCATED. */
async function readExactly(
  handle: FileHandle,
  out: Uint8Array,
  position: number,
  where: string,
): Promise<void> {
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, out.length - done, position + done);
    if (bytesRead === 0)
      throw fileError(
        ErrorCode.FILE_TRUNCATED,
        where,
        `the file ended after ${position + done} bytes, before the ${position + out.length} it had when opened (it shrank while being read)`,
      );
    done += bytesRead;
  }
}

/**
 * The bytes of the regular file at `file` (at most MAX_FILE_BYTES; exactly the size fstat
 * reports when it was opened, never more).
 */
export async function readRegularFile(file: string, where: string): Promise<Uint8Array> {
  const { handle, size } = await openRegular(file, where);
  try {
    const bytes = new Uint8Array(size);
    await readExactly(handle, bytes, 0, where);
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * The bytes of the safetensors file at `file` and its parsed header. The header length is read
 * and checked first, then the header, then exactly the data its tensors declare: a file whose
 * size disagrees with its header is refused before its data is read.
 */
export async function readSafetensorsFile(
  file: string,
  where: string,
): Promise<{ bytes: Uint8Array; header: SafetensorsHeader }> {
  const { handle, size } = await openRegular(file, where);
  try {
    const prefix = new Uint8Array(Math.min(8, size));
    await readExactly(handle, prefix, 0, where);
    const n = readHeaderLength(prefix, size, where);
    const json = new Uint8Array(n);
    await readExactly(handle, json, 8, where);
    const header = parseHeader(json, where);
    checkDataLength(header, size - 8 - n, where);
    const bytes = new Uint8Array(8 + n + header.dataLength);
    bytes.set(prefix);
    bytes.set(json, 8);
    await readExactly(handle, bytes.subarray(8 + n), 8 + n, where);
    return { bytes, header };
  } finally {
    await handle.close();
  }
}
