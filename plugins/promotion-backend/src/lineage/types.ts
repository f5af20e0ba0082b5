import {
  ArtifactKind,
  EnvironmentPolicy,
  EnvironmentTrigger,
} from '@mainline/plugin-promotion-common';

export interface LineageArtifact {
  kind: ArtifactKind;
  uri: string;
  digest: string;
  size: number;
  createdAt: string;
  tags: string[];
}

export interface LineageCommit {
  sha: string;
  shortSha: string;
  message: string;
  author: { name: string; email: string };
  committedAt: string;
  pullRequest: { number: number; url: string | null } | null;
  artifacts: LineageArtifact[];
  tags: string[];
  environments: string[];
  yanked: { by: string; reason: string; at: string } | null;
  /** For commits on a `release/*` branch: the main commit this one was cherry-picked from. */
  cherryPickOf: string | null;
}

export interface LineageEnvironment {
  name: string;
  trigger: EnvironmentTrigger;
  production: boolean;
  policy: EnvironmentPolicy;
  current: {
    sha: string | null;
    version: string;
    tag: string | null;
    artifact: LineageArtifact | null;
    deployedAt: string;
    deployedBy: string | null;
    revision: string | null;
  } | null;
  /** Commits the previous environment (for the first one: the branch head) has that this one lacks. */
  behindBy: number | null;
}

export interface Lineage {
  entityRef: string;
  branch: string;
  /** True when `branch` is a `release/*` branch: the discouraged flow. */
  exception: boolean;
  environments: LineageEnvironment[];
  commits: LineageCommit[];
  releaseBranches: Array<{ name: string; sha: string }>;
}

export interface Comparison {
  entityRef: string;
  from: { ref: string; sha: string };
  to: { ref: string; sha: string };
  aheadBy: number;
  behindBy: number;
  commits: LineageCommit[];
}
