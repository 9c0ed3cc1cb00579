// Module hooks (node:module register) that append the URL of every module loaded to a file.
import { appendFileSync } from 'node:fs';

let out;
export function initialize(data) {
  out = data?.out;
}

export async function load(url, context, nextLoad) {
  if (out) appendFileSync(out, `${url}\n`);
  return nextLoad(url, context);
}
