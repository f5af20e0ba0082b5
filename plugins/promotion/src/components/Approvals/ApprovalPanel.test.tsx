import { fireEvent, screen, waitFor } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { Entity } from '@backstage/catalog-model';
import {
  Promotion,
  PromotionApprovals,
} from '@mainline/plugin-promotion-common';
import { PromotionApi, promotionApiRef } from '../../api';
import { ApprovalPanel } from './ApprovalPanel';

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'checkout', namespace: 'default' },
  spec: {},
};

const promotion: Promotion = {
  id: '00000000-0000-4000-8000-000000000001',
  kind: 'promotion',
  status: 'awaiting-approval',
  environment: 'prod',
  sha: 'a'.repeat(40),
  tag: 'v1.2.0',
  version: 'v1.2.0',
  requestedBy: 'user:default/rita',
  error: null,
  createdAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:00:00.000Z',
  steps: [],
};

const approvals = (
  you: PromotionApprovals['you'],
  approvedBy: string[] = [],
): PromotionApprovals => ({
  promotion,
  required: 2,
  approvedBy,
  eligibleApprovers: ['user:default/grace', 'user:default/olga'],
  decisions: approvedBy.map(approver => ({
    approver,
    decision: 'approved' as const,
    comment: null,
    decidedAt: '2026-12-02T10:05:00.000Z',
  })),
  you,
});

function render(api: Partial<PromotionApi>) {
  return renderInTestApp(
    <TestApiProvider apis={[[promotionApiRef, api]]}>
      <EntityProvider entity={entity}>
        <ApprovalPanel promotion={promotion} />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('ApprovalPanel', () => {
  it('lets an eligible approver approve with a comment, then offers the withdrawal', async () => {
    let state = approvals({ canDecide: true, reason: 'may', decision: null });
    const approvePromotion = jest.fn(async (_e, _id, _comment?: string) => {
      state = approvals(
        { canDecide: true, reason: 'may', decision: 'approved' },
        ['user:default/olga'],
      );
      return state;
    });
    await render({ getApprovals: async () => state, approvePromotion });
    expect(
      await screen.findByText(
        /0 of 2 approvals; may approve: user:default\/grace, user:default\/olga/,
      ),
    ).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('approval comment'), {
      target: { value: 'looks good' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    await waitFor(() =>
      expect(approvePromotion).toHaveBeenCalledWith(
        expect.objectContaining({ namespace: 'default', name: 'checkout' }),
        promotion.id,
        'looks good',
      ),
    );
    expect(
      await screen.findByText(
        /1 of 2 approvals \(approved by user:default\/olga\)/,
      ),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Withdraw my approval' }),
    ).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Approve' })).toBeDisabled();
  });

  it('shows the requester why they cannot approve their own promotion', async () => {
    const reason =
      'user:default/rita may not approve: user:default/rita requested this promotion, and nobody approves their own';
    await render({
      getApprovals: async () =>
        approvals({ canDecide: false, reason, decision: null }),
    });
    expect(
      await screen.findByText(`You cannot decide: ${reason}`),
    ).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Approve' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Reject' })).toBeDisabled();
  });
});
