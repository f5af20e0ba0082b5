import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  RuntimeObserver,
  RuntimeSubject,
} from '@mainline/plugin-promotion-node';
import { RuntimeObservers } from './RuntimeObservers';
import { memoryCache } from '@mainline/plugin-promotion-node/testUtils';

const subject = (annotations: Record<string, string>): RuntimeSubject => ({
  entityRef: 'component:default/payments',
  name: 'payments',
  annotations,
});

function observer(annotation: string): RuntimeObserver {
  return {
    serves: s => annotation in s.annotations,
    observe: async (_s, environments) =>
      Object.fromEntries(environments.map(e => [e, undefined])),
  };
}

describe('RuntimeObservers', () => {
  const context = {
    config: new ConfigReader({}),
    logger: mockServices.logger.mock(),
    cache: memoryCache(),
  };

  it('picks the first configured observer that serves the entity', () => {
    const observers = new RuntimeObservers();
    observers.addRuntimeObserverProvider({
      name: 'unconfigured',
      create: () => undefined,
    });
    observers.addRuntimeObserverProvider({
      name: 'argocd',
      create: () => observer('argocd/app-name'),
    });
    observers.addRuntimeObserverProvider({
      name: 'lambda',
      create: () => observer('mainline.dev/serverless-service'),
    });
    observers.create(context);
    expect(
      observers.forSubject(subject({ 'argocd/app-name': 'payments' }))?.name,
    ).toBe('argocd');
    expect(
      observers.forSubject(
        subject({ 'mainline.dev/serverless-service': 'payments' }),
      )?.name,
    ).toBe('lambda');
    expect(observers.forSubject(subject({}))).toBeUndefined();
  });

  it('refuses two providers of one name', () => {
    const observers = new RuntimeObservers();
    observers.addRuntimeObserverProvider({
      name: 'argocd',
      create: () => undefined,
    });
    expect(() =>
      observers.addRuntimeObserverProvider({
        name: 'argocd',
        create: () => undefined,
      }),
    ).toThrow(
      'Two modules add a promotion runtime observer provider named "argocd"',
    );
  });
});
