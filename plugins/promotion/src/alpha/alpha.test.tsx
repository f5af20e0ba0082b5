import { screen } from '@testing-library/react';
import {
  createExtensionTester,
  renderInTestApp,
} from '@backstage/frontend-test-utils';
import {
  EntityContentBlueprint,
  EntityCardBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { Entity } from '@backstage/catalog-model';
import {
  doraEntityCard,
  environmentsEntityCard,
  environmentsEntityContent,
} from './index';

const component = (annotations: Record<string, string>): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'checkout', annotations },
  spec: {},
});
const annotated = component({
  'github.com/project-slug': 'acme/checkout',
  'mainline.dev/artifact-kind': 'image',
});

describe('new frontend system extensions', () => {
  it('offers the DORA card on promotable components and on Systems', () => {
    const tester = createExtensionTester(doraEntityCard);
    const filter = tester.get(EntityCardBlueprint.dataRefs.filterFunction)!;
    expect(filter(annotated)).toBe(true);
    expect(filter(component({}))).toBe(false);
    expect(filter({ ...component({}), kind: 'System' })).toBe(true);
    expect(filter({ ...component({}), kind: 'Group' })).toBe(false);
  });

  it('mounts the Environments tab at environments, for promotable components only', () => {
    const tester = createExtensionTester(environmentsEntityContent);
    expect(tester.get(EntityContentBlueprint.dataRefs.title)).toBe(
      'Environments',
    );
    expect(tester.get(EntityContentBlueprint.dataRefs.group)).toBe(
      'deployment',
    );
    const filter = tester.get(EntityContentBlueprint.dataRefs.filterFunction)!;
    expect(filter(annotated)).toBe(true);
    expect(filter(component({}))).toBe(false);
    expect(filter({ ...annotated, kind: 'System' })).toBe(false);
  });

  it('lets app-config replace the filter', () => {
    const tester = createExtensionTester(environmentsEntityContent, {
      config: { filter: { 'spec.type': 'service' } },
    });
    expect(
      tester.get(EntityContentBlueprint.dataRefs.filterExpression),
    ).toBeUndefined();
    expect(
      tester.get(EntityContentBlueprint.dataRefs.filterFunction),
    ).toBeDefined();
  });

  it('renders the card through its loader', async () => {
    const tester = createExtensionTester(environmentsEntityCard);
    expect(
      tester.get(EntityCardBlueprint.dataRefs.filterFunction)!(annotated),
    ).toBe(true);
    expect(tester.reactElement()).toBeDefined();
    await renderInTestApp(
      <div>{tester.reactElement() ? 'card ready' : ''}</div>,
    );
    expect(screen.getByText('card ready')).toBeInTheDocument();
  });
});
