import { Header, Page } from '@backstage/core-components';
import { ReleaseBoard } from './ReleaseBoard';
import { RateBudgetCard } from './RateBudgetCard';

/** The release board as a page of its own (legacy frontend system; the new one adds its header). */
export const ReleaseBoardPage = () => (
  <Page themeId="tool">
    <Header
      title="Release board"
      subtitle="Every service on the main → rc-* → v* workflow, environment by environment"
    />
    <RateBudgetCard />
    <ReleaseBoard />
  </Page>
);
