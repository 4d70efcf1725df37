/**
 * A job that ends while its tab is hidden says so in a notification, if Settings asks: the
 * service worker's real showNotification, read back with getNotifications(). Headless Chromium
 * shows every tab, so the test hides the tab as the browser does when another is chosen:
 * visibilityState "hidden" and a visibilitychange event.
 */
import { expect, test, type Page } from '@playwright/test';
import { batchFile, createJob, setNotifyOnEnd, waitForCompleted } from './helpers';

/** The tab as hidden (or shown again), as the page sees it. */
async function hide(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    if (hidden)
      Object.defineProperty(document, 'visibilityState', {
        configurable: true,
        get: () => 'hidden'
      });
    else Reflect.deleteProperty(document, 'visibilityState');
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** The notifications the app's service worker shows now. */
const notifications = (page: Page) =>
  page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map((notice) => ({
      title: notice.title,
      body: notice.body,
      tag: notice.tag,
      url: (notice.data as { url: string }).url
    }));
  });

test('a job that ends while its tab is hidden says so in one notification, which names the job; one that ends with the tab shown does not', async ({
  page,
  context,
  baseURL
}) => {
  await context.grantPermissions(['notifications'], { origin: baseURL });
  await setNotifyOnEnd(page, true);
  const id = await createJob(
    page,
    batchFile(8, 'night.jsonl'),
    '?engine=simulated&tokenDelayMs=40'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await hide(page, true);
  await waitForCompleted(page, 8);
  const told = {
    title: 'Done: night',
    body: "8 of 8 items done. The results are saved in this browser; export them from the job's page.",
    tag: `localbatch-job-${id}`,
    url: `${baseURL}/jobs/${id}`
  };
  await expect.poll(() => notifications(page)).toEqual([told]);

  await hide(page, false);
  await createJob(page, batchFile(4, 'day.jsonl'), '?engine=simulated&tokenDelayMs=20');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 4);
  await page.waitForTimeout(500);
  expect(await notifications(page)).toEqual([told]);
});

test('with notifications not allowed by the browser, turning them on is not saved and says why', async ({
  page
}) => {
  await page.goto('/settings');
  const box = page.getByLabel('Notify me when a job ends while its tab is hidden');
  await expect(box).toBeEnabled();
  await box.click();
  await expect(page.getByTestId('recovery-saved')).toHaveText(
    /^Not saved: the browser does not allow this site's notifications \(it answered "(denied|default)"\)\. Allow them in the site's settings/
  );
  await expect(box).not.toBeChecked();
  await page.reload();
  await expect(box).toBeEnabled();
  await expect(box).not.toBeChecked();
});
