import {
  Authors,
  Identity,
  approvalRefusal,
  approvalTally,
  approvalsRule,
  approverRule,
  eligibleApprovers,
  isSamePerson,
  loginOfNoReplyEmail,
  requiredApprovals,
} from './rules';

const user = (
  name: string,
  identity: Partial<Identity> = {},
): Identity & { entityRef: string } => ({
  entityRef: `user:default/${name}`,
  emails: [`${name}@example.com`],
  logins: [name],
  ...identity,
});

const rita = user('rita'); // the requester
const ada = user('ada'); // wrote the commit
const pat = user('pat', { emails: ['pat@corp.example'] }); // opened the pull request
const olga = user('olga'); // in a group nested in the owner group
const grace = user('grace'); // in the owner group
const nora = user('nora'); // in another group

/** Members as `ApproverDirectory.members` returns them: nested groups' users included. */
const members = [rita, ada, pat, olga, grace].map(m => m.entityRef);

const squash: Authors = {
  commit: { name: 'Ada', email: 'ada@example.com' },
};
const merge: Authors = {
  commit: { name: 'Ada', email: 'ada@example.com' },
  pullRequest: { email: 'pat@corp.example', login: 'pat' },
};

describe('approvalRefusal', () => {
  it.each([
    [
      'the requester approving their own promotion',
      rita,
      squash,
      'self-approval',
    ],
    ['the commit author', ada, squash, 'commit-author'],
    [
      'the pull request author by the head commit email',
      pat,
      { pullRequest: { email: 'PAT@corp.example' } },
      'pull-request-author',
    ],
    [
      'the pull request author by the login a merge subject names',
      user('pat', { emails: [] }),
      { pullRequest: { login: 'pat' } },
      'pull-request-author',
    ],
    [
      'the commit author by a GitHub no-reply address',
      user('ada', { emails: [] }),
      { commit: { name: 'Ada', email: '123+ada@users.noreply.github.com' } },
      'commit-author',
    ],
    [
      'the author of a pull request GitHub associates with the commit, by login (any case)',
      user('pat', { emails: ['pat@corp.example'], logins: ['Pat'] }),
      { ...squash, pullRequests: [{ number: 12, login: 'pat' }] },
      'pull-request-author',
    ],
    [
      'the author of the second of two associated pull requests',
      pat,
      {
        ...squash,
        pullRequests: [
          { number: 12, login: 'someone-else' },
          { number: 14, login: 'pat' },
        ],
      },
      'pull-request-author',
    ],
    [
      'the commit author who also opened the pull request: the commit authorship is named',
      ada,
      { ...squash, pullRequests: [{ number: 12, login: 'ada' }] },
      'commit-author',
    ],
    [
      'a member whose login only resembles the pull request author',
      user('grace', { logins: ['grace-h'] }),
      { ...squash, pullRequests: [{ number: 12, login: 'grace' }] },
      undefined,
    ],
    [
      'a member without a GitHub login, whatever the pull request author',
      user('grace', { logins: [] }),
      { ...squash, pullRequests: [{ number: 12, login: 'grace' }] },
      undefined,
    ],
    ['someone outside the owner group', nora, squash, 'not-a-member'],
    ['a member of a group nested in the owner group', olga, merge, undefined],
    ['a member of the owner group', grace, merge, undefined],
    ['a member when the commit names no author', grace, {}, undefined],
  ] as const)('%s: %s', (_what, approver, authors, expected) => {
    expect(
      approvalRefusal({
        approver,
        requestedBy: rita.entityRef,
        authors,
        members,
      }),
    ).toBe(expected);
  });

  it('names the requester before the authorship, and the authorship before membership', () => {
    // Rita requested and wrote the commit: self-approval is what she is told.
    expect(
      approvalRefusal({
        approver: rita,
        requestedBy: rita.entityRef,
        authors: { commit: { name: 'Rita', email: 'rita@example.com' } },
        members: [],
      }),
    ).toBe('self-approval');
    // Nora wrote the commit and is no member: the authorship is what she is told.
    expect(
      approvalRefusal({
        approver: nora,
        requestedBy: rita.entityRef,
        authors: { commit: { name: 'Nora', email: 'nora@example.com' } },
        members,
      }),
    ).toBe('commit-author');
  });
});

describe('approverRule', () => {
  it('passes an eligible approver and names the refusal as data otherwise', () => {
    const owners = ['group:default/payments'];
    expect(
      approverRule({
        approver: olga,
        requestedBy: rita.entityRef,
        authors: merge,
        members,
        owners,
      }),
    ).toMatchObject({ name: 'approver', passed: true });
    expect(
      approverRule({
        approver: nora,
        requestedBy: rita.entityRef,
        authors: merge,
        members,
        owners,
      }),
    ).toEqual({
      name: 'approver',
      passed: false,
      reason:
        'user:default/nora may not approve: user:default/nora is not a member of the owner group (nor of a group in it) group:default/payments',
      data: { approvalRefusal: 'not-a-member' },
    });
  });
});

describe('eligibleApprovers', () => {
  it('leaves out the requester and the authors, sorted', () => {
    expect(
      eligibleApprovers({
        members: [rita, ada, pat, olga, grace],
        requestedBy: rita.entityRef,
        authors: merge,
      }),
    ).toEqual(['user:default/grace', 'user:default/olga']);
  });

  it('leaves out who opened an associated pull request, as GitHub names them', () => {
    expect(
      eligibleApprovers({
        members: [rita, ada, pat, olga, grace],
        requestedBy: rita.entityRef,
        authors: { ...squash, pullRequests: [{ number: 7, login: 'olga' }] },
      }),
    ).toEqual(['user:default/grace', 'user:default/pat']);
  });
});

describe('isSamePerson and loginOfNoReplyEmail', () => {
  it.each([
    [{ email: 'Ada@Example.com' }, true],
    [{ login: 'ADA' }, true],
    [{ email: 'ada@users.noreply.github.com' }, true],
    [{ email: 'ada@elsewhere.example' }, false],
    [{}, false],
  ])('%j is ada: %s', (author, expected) => {
    expect(isSamePerson(ada, author)).toBe(expected);
  });

  it('reads the login of a no-reply address only', () => {
    expect(loginOfNoReplyEmail('4711+octo-cat@users.noreply.github.com')).toBe(
      'octo-cat',
    );
    expect(loginOfNoReplyEmail('octocat@example.com')).toBeUndefined();
  });
});

describe('requiredApprovals', () => {
  const base = {
    environment: 'prod',
    configured: 1,
    component: undefined,
    systems: [],
  };
  it.each([
    ['the configured count', base, { count: 1, source: 'the prod policy' }],
    [
      'no policy',
      { ...base, configured: undefined },
      { count: 0, source: 'the prod policy' },
    ],
    [
      "the System's annotation over the policy",
      {
        ...base,
        systems: [
          {
            ref: 'system:default/shop',
            annotations: { 'mainline.dev/approvals-prod': '2' },
          },
        ],
      },
      {
        count: 2,
        source: 'mainline.dev/approvals-prod of system:default/shop',
      },
    ],
    [
      "the component's annotation over its System's",
      {
        ...base,
        component: { 'mainline.dev/approvals-prod': '0' },
        systems: [
          {
            ref: 'system:default/shop',
            annotations: { 'mainline.dev/approvals-prod': '2' },
          },
        ],
      },
      { count: 0, source: 'mainline.dev/approvals-prod of the component' },
    ],
    [
      "another environment's annotation is not this one's",
      { ...base, component: { 'mainline.dev/approvals-demo': '3' } },
      { count: 1, source: 'the prod policy' },
    ],
  ])('%s', (_what, input, expected) => {
    expect(requiredApprovals(input)).toEqual(expected);
  });

  it.each(['two', '-1', '1.5', '', '100'])(
    'refuses the unreadable annotation value %j with a check naming it',
    value => {
      expect(
        requiredApprovals({
          ...base,
          component: { 'mainline.dev/approvals-prod': value },
        }),
      ).toEqual({
        check: expect.objectContaining({
          name: 'approvals',
          passed: false,
          data: { invalidAnnotation: 'mainline.dev/approvals-prod' },
        }),
      });
    },
  );
});

describe('approvalsRule', () => {
  const input = {
    environment: 'prod',
    required: 2,
    source: 'the prod policy',
    owners: ['group:default/payments'],
  };
  it('awaits the approvals when enough people are eligible, with the data the dry run shows', () => {
    expect(
      approvalsRule({
        ...input,
        eligible: ['user:default/grace', 'user:default/olga'],
      }),
    ).toEqual({
      name: 'approvals',
      passed: true,
      reason:
        'awaits 2 approvals (the prod policy) from user:default/grace, user:default/olga',
      data: {
        awaitsApproval: true,
        requiredApprovals: 2,
        eligibleApprovers: ['user:default/grace', 'user:default/olga'],
      },
    });
  });
  it('refuses when fewer are eligible than needed', () => {
    const check = approvalsRule({ ...input, eligible: ['user:default/grace'] });
    expect(check.passed).toBe(false);
    expect(check.reason).toBe(
      'prod needs 2 approvals (the prod policy) from members of group:default/payments other than the requester and the authors, and only 1 is eligible: user:default/grace',
    );
  });
});

describe('approvalTally', () => {
  it.each([
    [[], 2, false, []],
    [
      [{ approver: 'user:default/olga', decision: 'approved' }],
      2,
      false,
      ['user:default/olga'],
    ],
    [
      [
        { approver: 'user:default/olga', decision: 'approved' },
        { approver: 'user:default/grace', decision: 'approved' },
      ],
      2,
      true,
      ['user:default/grace', 'user:default/olga'],
    ],
    // A rejection is no approval; an approval by someone no longer eligible does not count.
    [
      [
        { approver: 'user:default/olga', decision: 'approved' },
        { approver: 'user:default/grace', decision: 'rejected' },
        { approver: 'user:default/left', decision: 'approved' },
      ],
      2,
      false,
      ['user:default/olga'],
    ],
  ] as const)(
    '%j of %i: reached %s',
    (decisions, required, reached, approvedBy) => {
      expect(
        approvalTally([...decisions], required, [
          'user:default/olga',
          'user:default/grace',
        ]),
      ).toEqual({ reached, approvedBy });
    },
  );
});
