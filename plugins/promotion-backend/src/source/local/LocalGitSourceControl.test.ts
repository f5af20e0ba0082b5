import { runSourceControlContract } from '../SourceControl.contract';
import { LocalGitSourceControl } from './LocalGitSourceControl';

runSourceControlContract(
  'local git',
  async ({ root }) => new LocalGitSourceControl(root),
);
