// `azd up` provisions this: a resource group holding the saga app and everything it runs on
// (app.bicep). Parameters come from main.parameters.json, filled in by azd from its environment.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource: one where Flex Consumption is offered (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Python version of the Function App.')
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

@description('Upper bound of instances the app scales out to (Flex Consumption allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Instances kept running for the orchestrations and activities; Microsoft recommends 1 for Durable Functions on Flex Consumption. 0 scales to zero and bills nothing idle.')
@minValue(0)
@maxValue(10)
param durableAlwaysReadyInstances int = 1

@description('Seed the demo customers and SKUs (SAGA_DEMO_DATA). A real deployment has no demo customers.')
param demoData bool = false

@description('Object ID of the principal running the deployment (azd fills it in); empty for none.')
param principalId string = ''

@description('Kind of that principal: User for a person signed in, ServicePrincipal for a pipeline (azd fills it in).')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

resource group 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: {
    'azd-env-name': environmentName
  }
}

module app 'app.bicep' = {
  name: 'saga-app'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    demoData: demoData
    principalId: principalId
    principalType: principalType
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output SERVICE_API_NAME string = app.outputs.functionAppName
output SERVICE_API_URI string = app.outputs.functionAppUri
output AZURE_STORAGE_ACCOUNT_NAME string = app.outputs.storageAccountName
output APPLICATIONINSIGHTS_NAME string = app.outputs.appInsightsName
