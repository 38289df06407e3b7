/**
 * Registry credentials, found the way the docker CLI finds them: the user's docker config
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json): `credHelpers` for the registry, else
 * `credsStore`, else the `auths` entry. pydbg keeps no credentials of its own, and never logs them:
 * only the registry host and where the credentials came from are ever shown.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RegistryAuth } from './engine.js';

/** Docker Hub's key in the docker config (and the server address its credentials are for). */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** The registry host of an image reference: the first component when it names a host, else Docker Hub. */
export function registryHost(ref: string): string {
  const first = ref.split('/')[0]!;
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

export interface CredentialDeps {
  env: NodeJS.ProcessEnv;
  readConfig(path: string): Promise<string | undefined>;
  /** run `docker-credential-HELPER get` with the server on stdin: its JSON, or undefined when it has none */
  runHelper(helper: string, server: string): Promise<{ Username: string; Secret: string } | undefined>;
}

export interface FoundAuth {
  auth?: RegistryAuth;
  /** where they came from, for messages: "credential helper 'pass'", "docker config auths", or "none" */
  source: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** "https://ghcr.io/v1/" or "ghcr.io" → "ghcr.io"; Docker Hub's keys → "docker.io" */
function hostOfKey(key: string): string {
  const h = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

export async function findAuth(host: string, deps: CredentialDeps = nodeCredentialDeps()): Promise<FoundAuth> {
  const dir = deps.env.DOCKER_CONFIG || join(deps.env.HOME || homedir(), '.docker');
  const text = await deps.readConfig(join(dir, 'config.json'));
  if (!text) return { source: 'none' };
  let config: DockerConfig;
  try {
    config = JSON.parse(text) as DockerConfig;
  } catch {
    return { source: 'none (the docker config does not parse)' };
  }
  const server = host === 'docker.io' ? DOCKER_HUB_KEY : host;
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => hostOfKey(k) === host)?.[1] ?? config.credsStore;
  if (helper) {
    const got = await deps.runHelper(helper, server);
    if (got) {
      // a Username of "<token>" means the secret is an identity token (docker's convention)
      const auth: RegistryAuth = got.Username === '<token>' ? { serveraddress: server, identitytoken: got.Secret } : { serveraddress: server, username: got.Username, password: got.Secret };
      return { auth, source: `credential helper '${helper}'` };
    }
  }
  const entry = Object.entries(config.auths ?? {}).find(([k]) => hostOfKey(k) === host)?.[1];
  if (!entry) return { source: helper ? `none (credential helper '${helper}' has none for ${host})` : 'none' };
  if (entry.identitytoken) return { auth: { serveraddress: server, identitytoken: entry.identitytoken }, source: 'docker config auths' };
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) return { auth: { serveraddress: server, username: plain.slice(0, i), password: plain.slice(i + 1) }, source: 'docker config auths' };
  }
  if (entry.username && entry.password) return { auth: { serveraddress: server, username: entry.username, password: entry.password }, source: 'docker config auths' };
  return { source: 'none' };
}

export function nodeCredentialDeps(): CredentialDeps {
  return {
    env: process.env,
    readConfig: (path) => readFile(path, 'utf8').catch(() => undefined),
    runHelper: async (helper, server) => {
      const { execa } = await import('execa');
      const r = await execa(`docker-credential-${helper}`, ['get'], { input: server, reject: false, timeout: 20_000 });
      if (r.exitCode !== 0) return undefined; // "credentials not found", or the helper is not installed
      try {
        return JSON.parse(String(r.stdout)) as { Username: string; Secret: string };
      } catch {
        return undefined;
      }
    },
  };
}
