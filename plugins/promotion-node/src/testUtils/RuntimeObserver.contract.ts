/* eslint-disable jest/no-export -- a contract suite is a test suite that adapter tests import and run */
import {
  RuntimeHealthStatus,
  RuntimeObserver,
  RuntimeOperationPhase,
  RuntimeState,
  RuntimeSubject,
  RuntimeSyncStatus,
} from '../ports/RuntimeObserver';

/*
 * The contract every RuntimeObserver adapter passes. The fixture is data: what runs in each
 * environment (sync, health, last operation, the live pods and their image digests), which the
 * adapter's setup seeds into the runtime it speaks to (an Argo CD API, a Lambda API); the tests
 * then ask the adapter through the port, and drive transitions through the setup.
 */

/**
 * One live workload and the images its containers run.
 *
 * @public
 */
export interface RuntimePodFixture {
  name: string;
  containers: Array<{ name: string; image: string; digest: string }>;
}

/**
 * What runs in one environment, as the runtime would report it.
 *
 * @public
 */
export interface RuntimeEnvironmentFixture {
  environment: string;
  sync: { status: RuntimeSyncStatus; revision: string };
  health: { status: RuntimeHealthStatus; message?: string; since: Date };
  operation?: {
    phase: RuntimeOperationPhase;
    message?: string;
    revision: string;
    startedAt: Date;
    finishedAt?: Date;
  };
  pods: RuntimePodFixture[];
}

/**
 * What every adapter's setup seeds.
 *
 * @public
 */
export interface RuntimeObserverFixture {
  /** The entity; the setup adds whatever annotations its runtime needs. */
  entity: { name: string; entityRef: string };
  environments: RuntimeEnvironmentFixture[];
  /** Environments the runtime has nothing for. */
  unobserved: string[];
}

/**
 * What an adapter's setup returns.
 *
 * @public
 */
export interface RuntimeObserverUnderTest {
  observer: RuntimeObserver;
  /** The fixture's entity with the annotations that place it in the seeded runtime. */
  subject: RuntimeSubject;
  /** An entity the runtime has nothing for, which the observer nevertheless serves. */
  stranger: RuntimeSubject;
  /** Replaces what runs in an environment, as the runtime would after a sync. */
  transition(state: RuntimeEnvironmentFixture): Promise<void>;
  /**
   * False for a runtime that does not report when its last operation started and ended (Lambda
   * reports only when a function was last modified): the contract then checks the operation's
   * phase, message and revision, and that any times given are ISO 8601. Default true.
   */
  reportsOperationTimes?: boolean;
}

const DIGEST_A = `sha256:${'a1'.repeat(32)}`;
const DIGEST_B = `sha256:${'b2'.repeat(32)}`;
const DIGEST_SIDECAR = `sha256:${'5c'.repeat(32)}`;
const DIGEST_NEW = `sha256:${'e7'.repeat(32)}`;
const REV_STAGE = '1f2e3d4c5b6a798877665544332211ffeeddccbb';
const REV_DEMO_NEW = '0123456789abcdef0123456789abcdef01234567';
const REV_PROD = 'fedcba9876543210fedcba9876543210fedcba98';

/**
 * stage runs `DIGEST_A` on two pods beside a sidecar, synced and healthy; demo was asked to
 * sync a new revision, the sync failed and the old version still runs healthy (the case that
 * looks green and is not); prod is mid-rollout, progressing with one old and one new pod.
 *
 * @public
 */
export const RUNTIME_OBSERVER_FIXTURE: RuntimeObserverFixture = {
  entity: { name: 'payments', entityRef: 'component:default/payments' },
  environments: [
    {
      environment: 'stage',
      sync: { status: 'Synced', revision: REV_STAGE },
      health: { status: 'Healthy', since: new Date('2024-06-01T10:05:00Z') },
      operation: {
        phase: 'Succeeded',
        message: 'successfully synced (all tasks run)',
        revision: REV_STAGE,
        startedAt: new Date('2024-06-01T10:00:00Z'),
        finishedAt: new Date('2024-06-01T10:01:00Z'),
      },
      pods: [
        {
          name: 'payments-7d9f-abcde',
          containers: [
            {
              name: 'app',
              image: 'ecr.example/payments:1f2e3d4',
              digest: DIGEST_A,
            },
            { name: 'proxy', image: 'envoy:1.30', digest: DIGEST_SIDECAR },
          ],
        },
        {
          name: 'payments-7d9f-fghij',
          containers: [
            {
              name: 'app',
              image: 'ecr.example/payments:1f2e3d4',
              digest: DIGEST_A,
            },
            { name: 'proxy', image: 'envoy:1.30', digest: DIGEST_SIDECAR },
          ],
        },
      ],
    },
    {
      environment: 'demo',
      sync: { status: 'OutOfSync', revision: REV_DEMO_NEW },
      health: { status: 'Healthy', since: new Date('2024-05-20T08:00:00Z') },
      operation: {
        phase: 'Failed',
        message:
          'one or more objects failed to apply: admission webhook denied',
        revision: REV_DEMO_NEW,
        startedAt: new Date('2024-06-02T09:00:00Z'),
        finishedAt: new Date('2024-06-02T09:00:30Z'),
      },
      pods: [
        {
          name: 'payments-5c4b-klmno',
          containers: [
            {
              name: 'app',
              image: 'ecr.example/payments:rc-1',
              digest: DIGEST_B,
            },
          ],
        },
      ],
    },
    {
      environment: 'prod',
      sync: { status: 'Synced', revision: REV_PROD },
      health: {
        status: 'Progressing',
        message:
          'Waiting for rollout to finish: 1 old replicas are pending termination',
        since: new Date('2024-06-03T12:00:10Z'),
      },
      operation: {
        phase: 'Running',
        revision: REV_PROD,
        startedAt: new Date('2024-06-03T12:00:00Z'),
      },
      pods: [
        {
          name: 'payments-1a2b-old',
          containers: [
            { name: 'app', image: 'ecr.example/payments:v1', digest: DIGEST_B },
          ],
        },
        {
          name: 'payments-3c4d-new',
          containers: [
            {
              name: 'app',
              image: 'ecr.example/payments:v2',
              digest: DIGEST_NEW,
            },
          ],
        },
      ],
    },
  ],
  unobserved: ['qa'],
};

const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function at(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Date.parse(value);
}

/**
 * Runs the RuntimeObserver contract against an adapter. `setup` seeds the fixture into the
 * runtime the adapter speaks to and returns the observer.
 *
 * @public
 */
export function runRuntimeObserverContract(
  adapterName: string,
  setup: (fixture: RuntimeObserverFixture) => Promise<RuntimeObserverUnderTest>,
): void {
  describe(`RuntimeObserver contract: ${adapterName}`, () => {
    const fixture = RUNTIME_OBSERVER_FIXTURE;
    const environments = [
      ...fixture.environments.map(e => e.environment),
      ...fixture.unobserved,
    ];
    let underTest: RuntimeObserverUnderTest;
    let states: Record<string, RuntimeState | undefined>;

    beforeAll(async () => {
      underTest = await setup(fixture);
      states = await underTest.observer.observe(
        underTest.subject,
        environments,
      );
    }, 30_000);

    it('serves the entity and answers exactly the environments asked', () => {
      expect(underTest.observer.serves(underTest.subject)).toBe(true);
      expect(Object.keys(states).sort()).toEqual([...environments].sort());
      for (const environment of fixture.unobserved) {
        expect(states[environment]).toBeUndefined();
      }
    });

    it('reports sync status and revision, health and since when', () => {
      for (const expected of fixture.environments) {
        const state = states[expected.environment]!;
        expect(state).toBeDefined();
        expect(state.environment).toBe(expected.environment);
        expect(state.sync).toEqual({
          status: expected.sync.status,
          revision: expected.sync.revision,
        });
        expect(state.health.status).toBe(expected.health.status);
        expect(state.health.message).toBe(expected.health.message);
        expect(state.since).toMatch(ISO_8601);
        expect(at(state.since)).toBe(expected.health.since.getTime());
        expect(state.observedAt).toMatch(ISO_8601);
        expect(
          Math.abs(Date.parse(state.observedAt) - Date.now()),
        ).toBeLessThan(60_000);
        expect(state.source).toEqual(expect.any(String));
      }
    });

    it('reports the last operation, so a failed sync shows although health is green', () => {
      const demo = states.demo!;
      expect(demo.health.status).toBe('Healthy');
      expect(demo.lastOperation).toMatchObject({
        phase: 'Failed',
        message: expect.stringContaining('admission webhook denied'),
        revision: fixture.environments[1].operation!.revision,
      });
      const prod = states.prod!;
      expect(prod.lastOperation?.phase).toBe('Running');
      expect(prod.lastOperation?.finishedAt).toBeUndefined();
      const times = [
        demo.lastOperation!.startedAt,
        demo.lastOperation!.finishedAt,
        prod.lastOperation!.startedAt,
      ];
      expect(times.filter(t => t !== undefined && !ISO_8601.test(t))).toEqual(
        [],
      );
      // Exact times, unless the runtime does not report them.
      const exact = underTest.reportsOperationTimes !== false;
      const reported = {
        demoFinishedAt: at(demo.lastOperation!.finishedAt),
        prodStartedAt: at(prod.lastOperation?.startedAt),
      };
      expect(exact ? reported : {}).toEqual(
        exact
          ? {
              demoFinishedAt:
                fixture.environments[1].operation!.finishedAt!.getTime(),
              prodStartedAt:
                fixture.environments[2].operation!.startedAt.getTime(),
            }
          : {},
      );
    });

    it('reports the image digests the live pods run, sorted and without repeats', () => {
      for (const expected of fixture.environments) {
        const digests = [
          ...new Set(
            expected.pods.flatMap(p => p.containers.map(c => c.digest)),
          ),
        ].sort();
        expect(states[expected.environment]!.runningDigests).toEqual(digests);
      }
      // Mid-rollout, old and new both run: a verification must not take one for the other.
      expect(states.prod!.runningDigests).toHaveLength(2);
    });

    it('answers undefined for an entity the runtime has nothing for', async () => {
      const stranger = await underTest.observer.observe(underTest.stranger, [
        'stage',
        'prod',
      ]);
      expect(stranger).toEqual({ stage: undefined, prod: undefined });
    });

    it('sees a transition on the next call', async () => {
      const demo = fixture.environments[1];
      const digest = `sha256:${'d4'.repeat(32)}`;
      // Whole seconds: Kubernetes and Argo CD times have no finer precision.
      const finishedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
      await underTest.transition({
        ...demo,
        sync: { status: 'Synced', revision: demo.sync.revision },
        health: { status: 'Healthy', since: finishedAt },
        operation: {
          phase: 'Succeeded',
          message: 'successfully synced',
          revision: demo.sync.revision,
          startedAt: new Date(finishedAt.getTime() - 10_000),
          finishedAt,
        },
        pods: [
          {
            name: 'payments-8e8e-pqrst',
            containers: [
              { name: 'app', image: 'ecr.example/payments:rc-2', digest },
            ],
          },
        ],
      });
      const after = await underTest.observer.observe(underTest.subject, [
        'demo',
      ]);
      expect(after.demo).toMatchObject({
        sync: { status: 'Synced', revision: demo.sync.revision },
        health: { status: 'Healthy' },
        lastOperation: { phase: 'Succeeded' },
        runningDigests: [digest],
      });
      expect(at(after.demo!.since)).toBe(finishedAt.getTime());
    });
  });
}
