import { FileChange } from './SourceControl';

/**
 * A proposed manifest change, as the review system shows it.
 *
 * @public
 */
export interface ChangeRequest {
  /** E.g. the pull request number. */
  id: string;
  url: string;
  state: 'open' | 'merged' | 'closed';
  /** The commit the change landed as, once merged. */
  mergeCommitSha?: string;
}

/**
 * Changes that land through review instead of a direct commit: a pull request on the manifest
 * repository for environments that require one (typically prod). Proposing the same branch again
 * returns the request already open, so a retried promotion never opens a second one.
 *
 * @public
 */
export interface ChangeRequests {
  propose(
    repo: string,
    request: {
      /** The branch the change targets (the one Argo CD watches). */
      base: string;
      /** The branch carrying the change, derived from what is deployed. */
      branch: string;
      title: string;
      body: string;
      change: Omit<FileChange, 'branch' | 'expectedBlobSha'>;
    },
  ): Promise<ChangeRequest>;
  get(repo: string, id: string): Promise<ChangeRequest>;
}
