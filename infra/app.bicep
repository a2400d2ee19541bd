// Everything the saga app runs on, in one resource group: a Flex Consumption Function App that
// reaches its storage account and Application Insights only through its user-assigned managed
// identity. No key, SAS or connection string with a secret is created, read or output here.

// Parameters: main.bicep describes each and checks its range.
param environmentName string
param location string
param pythonVersion string
param maximumInstanceCount int
param instanceMemoryMB int
param durableAlwaysReadyInstances int
param demoData bool
param principalId string
param principalType string

var token = toLower(uniqueString(resourceGroup().id))
var tags = { 'azd-env-name': environmentName }
// Flex Consumption runs the app from a package in this container, read with the app's identity.
var packageContainerName = 'app-package'

// Built-in role definitions by ID (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// What the app's identity needs on the storage account. The Functions host keeps its keys and
// leases in blobs (Storage Blob Data Owner); Durable Functions' Azure Storage provider keeps the
// task hub in queues, tables and blobs; the order and payment ledgers are tables of their own.
var appStorageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

// The deploying principal, if named, may read what the app stored (keys are off, so the portal and
// `az storage --auth-mode login` need a data role), but not change it.
var deployerStorageRoles = empty(principalId) ? [] : [
  roles.storageBlobDataReader
  roles.storageQueueDataReader
  roles.storageTableDataReader
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-func-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59: Public network access stays on: a Flex Consumption app without virtual network integration reaches its storage over the public endpoint. Every request needs Microsoft Entra ID (shared keys are off).
  // checkov:skip=CKV_AZURE_35: The default network rule stays Allow for the same reason: the app has no fixed address or subnet to allow.
  // checkov:skip=CKV_AZURE_206: Locally redundant (three copies in one datacenter) to keep the cost low; choose Standard_ZRS or Standard_GZRS here for a deployment that must survive a zone or region.
  // checkov:skip=CKV_AZURE_43: checkov reads the name unevaluated ('st' + uniqueString); tests/infra/test_template.py evaluates it and checks Azure's naming rule.
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

// Local authentication is off: telemetry is accepted only with a Microsoft Entra token, which the
// host gets for the app's identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING below).
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Not zone redundant: on Flex Consumption that needs at least two always-ready instances per function group, and the storage account is locally redundant anyway (see CKV_AZURE_206).
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: The order API is public by design; every HTTP function takes a function key (authLevel function).
  // checkov:skip=CKV_AZURE_17: Callers present function keys, not client certificates.
  // checkov:skip=CKV_AZURE_212: numberOfWorkers belongs to plans with a fixed instance count; Flex Consumption scales each function group itself and keeps durableAlwaysReadyInstances running.
  // checkov:skip=CKV_AZURE_213: No health-check path: App Service's probe calls it without a key, and every function of this app requires one.
  name: 'func-${token}'
  location: location
  // azd deploys the `api` service of azure.yaml to the app with this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${packageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: (durableAlwaysReadyInstances > 0) ? [
          {
            name: 'durable'
            instanceCount: durableAlwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // The host's own storage (AzureWebJobsStorage), reached with the identity: no connection
        // string. The ledgers read the same settings (saga/settings.py).
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        // Telemetry: the host sends its logs and the Python worker's (the app's `logging`) to
        // Application Insights, signing in as the identity.
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        // Microsoft's recommendation for Durable Functions on Flex Consumption: poll the task hub's
        // queues at least every 10 seconds when idle (the default backs off to 30).
        {
          name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval'
          value: '00:00:10'
        }
        // The saga's settings, as in local.settings.json, without demo data unless asked for.
        {
          name: 'SAGA_TABLE_PREFIX'
          value: 'Saga'
        }
        {
          name: 'SAGA_DEMO_DATA'
          value: demoData ? 'true' : 'false'
        }
        {
          name: 'SAGA_STEP_RETRY_ATTEMPTS'
          value: '3'
        }
        {
          name: 'SAGA_STEP_RETRY_INTERVAL_MS'
          value: '1000'
        }
        {
          name: 'SAGA_COMPENSATION_RETRY_ATTEMPTS'
          value: '10'
        }
        {
          name: 'SAGA_COMPENSATION_RETRY_INTERVAL_MS'
          value: '2000'
        }
        {
          name: 'SAGA_STEP_DEADLINE_SECONDS'
          value: '60'
        }
      ]
    }
  }
  dependsOn: [
    packageContainer
  ]
}

// Publishing with a user name and password (FTP, and basic auth on the deployment endpoint) is off;
// azd and the Azure CLI deploy with a Microsoft Entra token.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource appStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in appStorageRoles: {
  name: guid(storage.id, identity.id, role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource appTelemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in deployerStorageRoles: {
  name: guid(storage.id, principalId, role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: principalType
  }
}]

output functionAppName string = functionApp.name
output functionAppUri string = 'https://${functionApp.properties.defaultHostName}'
output storageAccountName string = storage.name
output appInsightsName string = appInsights.name
