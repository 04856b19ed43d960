import { gql } from "@apollo/client";

// Every operation the app sends is here, so the persisted-operation
// manifest (npm run manifest) lists all of them and the gateway can run
// with TRUSTED_DOCUMENTS.

const REPO_PAGE = gql`
  fragment RepoPage on RepositoryConnection {
    edges {
      cursor
      node { id name fullName url private stars updatedAt }
    }
    pageInfo { hasNextPage endCursor }
  }
`;

// The dashboard: every identity with its first repositories at once; the
// calendars, which come from slower providers, are deferred so the
// repositories show as soon as they arrive.
export const DASHBOARD = gql`
  query Dashboard {
    me {
      id
      name
      email
      identities {
        id
        provider
        connection
        capabilities
        repos(first: 5) { ...RepoPage }
        ... @defer(label: "calendars") {
          calendar(first: 5) {
            edges {
              cursor
              node { id title start end allDay url status }
            }
            pageInfo { hasNextPage endCursor }
          }
        }
      }
    }
  }
  ${REPO_PAGE}
`;

// The next page of one identity's repositories: me.identity(id) selects
// exactly that identity, so its cursor goes to its provider only.
export const MORE_REPOS = gql`
  query MoreRepos($id: ID!, $after: String) {
    me {
      id
      identity(id: $id) {
        id
        repos(first: 5, after: $after) { ...RepoPage }
      }
    }
  }
  ${REPO_PAGE}
`;
